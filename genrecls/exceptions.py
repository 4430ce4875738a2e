"""Exception and warning hierarchy of genrecls.

Every error the library raises on purpose derives from :class:`GenreclsError`, so an
application can catch one family and show its message to a person.
"""


class GenreclsError(Exception):
    """Base class of every error genrecls raises on purpose."""


class ParameterError(GenreclsError, ValueError):
    """A function was called with an invalid parameter value."""


class AudioError(GenreclsError):
    """Base class of errors about audio input; the message is written for a person."""


class EmptyAudioError(AudioError):
    """The input holds no bytes, or decodes to zero samples."""


class DecodeError(AudioError):
    """The input could not be decoded as audio (corrupt, truncated, or not audio)."""


class UnsupportedFormatError(DecodeError):
    """The input is a container or codec that no available decoder can read."""


class InputTooLargeError(AudioError):
    """The upload is larger than the configured size limit."""


class InvalidSamplesError(AudioError):
    """The decoded samples contain NaN or infinite values, or an impossible sample rate."""


class ModelError(GenreclsError):
    """A model file is missing, foreign, tampered with, or incompatible."""


class DataError(GenreclsError):
    """A dataset folder, archive or label file is missing or malformed."""


class GenreclsWarning(UserWarning):
    """Base class of warnings genrecls emits about otherwise usable input."""


class SilentAudioWarning(GenreclsWarning):
    """The audio is (almost) digital silence: any prediction on it is meaningless."""


class TruncatedAudioWarning(GenreclsWarning):
    """The audio is longer than the analysis limit; only its beginning was analysed."""
