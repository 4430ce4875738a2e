"""Audio a web browser can play: the file itself when browsers read its format, else WAV.

Browsers' ``<audio>`` elements read WAV, MP3, FLAC, Ogg (Vorbis, Opus), WebM and MP4/AAC,
but not the other formats :func:`genrecls.audio.load_audio` decodes (Sun ``.au`` —
GTZAN's format —, AIFF, CAF, WMA, AMR, Matroska, ...): Chromium answers those with
``MEDIA_ERR_SRC_NOT_SUPPORTED`` and shows a 0:00 player. :func:`browser_audio` hands the
original bytes over with their MIME type when a browser can play them, and the decoded
samples as 16-bit WAV otherwise.
"""

from __future__ import annotations

import io
from pathlib import PurePath

import numpy as np
import soundfile as sf

from genrecls.exceptions import ParameterError

__all__ = ["BROWSER_FORMATS", "browser_audio"]

#: Extensions (lower case, no dot) that current browsers play, with their MIME type.
BROWSER_FORMATS: dict[str, str] = {
    "wav": "audio/wav",
    "wave": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "webm": "audio/webm",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
    "aac": "audio/aac",
}


def browser_audio(data: bytes, *, name: str, samples: np.ndarray, sr: int) -> tuple[bytes, str]:
    """Bytes and MIME type for a browser's audio player.

    Parameters
    ----------
    data : bytes
        The file as it was given.
    name : str
        Its file name; the extension says whether browsers play it.
    samples : np.ndarray [shape=(n,)]
        The decoded mono signal, used when browsers cannot play ``data``.
    sr : int > 0
        Sample rate of ``samples``.

    Returns
    -------
    audio : bytes
        ``data`` itself, or ``samples`` encoded as 16-bit PCM WAV.
    mime : str
        MIME type of ``audio``.

    Examples
    --------
    >>> y = np.zeros(1600, dtype=np.float32)
    >>> browser_audio(b"ID3...", name="song.mp3", samples=y, sr=16000)[1]
    'audio/mpeg'
    >>> wav, mime = browser_audio(b".snd...", name="blues.00000.au", samples=y, sr=16000)
    >>> mime, wav[:4]
    ('audio/wav', b'RIFF')
    """
    if not isinstance(sr, int | np.integer) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer, got {sr!r}")
    ext = PurePath(name).suffix.lower().lstrip(".")
    if ext in BROWSER_FORMATS:
        return data, BROWSER_FORMATS[ext]
    y = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, y, int(sr), format="WAV", subtype="PCM_16")
    return buf.getvalue(), "audio/wav"
