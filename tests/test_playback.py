"""genrecls.playback: what a browser's audio player is given."""

import io

import numpy as np
import pytest
import soundfile as sf

from genrecls.exceptions import ParameterError
from genrecls.playback import BROWSER_FORMATS, browser_audio

SR = 16000


def _tone(seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("song.mp3", "audio/mpeg"),
        ("a.WAV", "audio/wav"),
        ("x.flac", "audio/flac"),
        ("r.ogg", "audio/ogg"),
        ("m.m4a", "audio/mp4"),
    ],
)
def test_browser_formats_pass_through_with_their_mime_type(name, mime):
    data = b"original bytes"
    out, out_mime = browser_audio(data, name=name, samples=_tone(), sr=SR)
    assert out is data
    assert out_mime == mime


@pytest.mark.parametrize("name", ["blues.00000.au", "b.AIFF", "c.wma", "d.amr", "e.caf", "noext"])
def test_other_formats_become_wav_of_the_decoded_signal(name):
    y = _tone()
    out, mime = browser_audio(b".snd not for browsers", name=name, samples=y, sr=SR)
    assert mime == "audio/wav"
    assert out[:4] == b"RIFF"
    back, sr = sf.read(io.BytesIO(out), dtype="float32")
    assert sr == SR
    assert back.shape == y.shape
    np.testing.assert_allclose(back, y, atol=1.0 / 32768 + 1e-6)  # 16-bit PCM


def test_out_of_range_samples_are_clipped_not_wrapped():
    y = np.array([2.0, -3.0, 0.25], dtype=np.float32)
    out, _ = browser_audio(b"", name="x.au", samples=y, sr=SR)
    back, _ = sf.read(io.BytesIO(out), dtype="float32")
    assert back[0] > 0.99 and back[1] < -0.99 and abs(back[2] - 0.25) < 1e-4


def test_bad_rate_is_refused():
    with pytest.raises(ParameterError):
        browser_audio(b"", name="x.au", samples=_tone(), sr=0)


def test_every_browser_format_is_one_load_audio_reads():
    from genrecls.audio import SUPPORTED_EXTENSIONS

    assert set(BROWSER_FORMATS) <= set(SUPPORTED_EXTENSIONS)
