"""Input limits are configuration: one source of truth, honoured by Streamlit and genrecls."""

from __future__ import annotations

import io
import re
import tomllib

import numpy as np
import pytest
import soundfile as sf

from genrecls.audio import load_audio
from genrecls.config import PROJECT_ROOT, Limits
from genrecls.exceptions import InputTooLargeError, ParameterError, TruncatedAudioWarning

CONFIG_TOML = PROJECT_ROOT / ".streamlit" / "config.toml"
MB = 1024 * 1024  # Streamlit's "megabytes" for server.maxUploadSize are MiB, as genrecls'
ENV = ("GENRECLS_MAX_UPLOAD_MB", "GENRECLS_MAX_DURATION_S")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_streamlit_upload_limit_matches_genrecls(clean_env, monkeypatch):
    """``server.maxUploadSize`` in .streamlit/config.toml equals ``Limits.max_upload_bytes``."""
    with open(CONFIG_TOML, "rb") as fh:
        declared = tomllib.load(fh)["server"]["maxUploadSize"]
    assert declared * MB == Limits().max_upload_bytes == Limits.from_env().max_upload_bytes

    from streamlit import config as st_config

    monkeypatch.chdir(PROJECT_ROOT)  # Streamlit reads ./.streamlit/config.toml
    try:
        st_config.get_config_options(force_reparse=True)
        assert st_config.get_option("server.maxUploadSize") * MB == Limits().max_upload_bytes
    finally:
        st_config.get_config_options(force_reparse=True)


def test_config_comment_names_the_environment_variable():
    assert "GENRECLS_MAX_UPLOAD_MB" in CONFIG_TOML.read_text()


def test_pages_do_not_override_the_upload_limit():
    """No page passes its own ``max_upload_size``: the one limit lives in the config."""
    for page in sorted((PROJECT_ROOT / "pages").glob("*.py")):
        assert not re.search(r"max_upload_size\s*=", page.read_text()), page.name


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GENRECLS_MAX_UPLOAD_MB", "1.5")
    monkeypatch.setenv("GENRECLS_MAX_DURATION_S", "42")
    limits = Limits.from_env()
    assert limits.max_upload_bytes == int(1.5 * MB)
    assert limits.max_duration == 42.0
    assert limits.max_zip_entries > 0 and limits.max_zip_uncompressed_bytes > 0


@pytest.mark.parametrize(
    ("name", "value"),
    [("GENRECLS_MAX_UPLOAD_MB", "lots"), ("GENRECLS_MAX_UPLOAD_MB", "0"),
     ("GENRECLS_MAX_DURATION_S", "-1")],
)  # fmt: skip
def test_bad_limits_in_the_environment_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ParameterError):
        Limits.from_env()


def test_load_audio_uses_the_configured_limits(clean_env, monkeypatch):
    """The environment moves the size and duration limits of load_audio, not a constant."""
    buf = io.BytesIO()
    sf.write(buf, np.zeros(8000 * 3, np.float32) + 0.1, 8000, format="WAV", subtype="PCM_16")
    data = buf.getvalue()  # 48 kB, 3 s
    monkeypatch.setenv("GENRECLS_MAX_UPLOAD_MB", str(40_000 / MB))
    with pytest.raises(InputTooLargeError):
        load_audio(data, name="x.wav")
    monkeypatch.setenv("GENRECLS_MAX_UPLOAD_MB", "1")
    monkeypatch.setenv("GENRECLS_MAX_DURATION_S", "2")
    with pytest.warns(TruncatedAudioWarning):
        clip = load_audio(data, sr=None, name="x.wav")
    assert len(clip.samples) == 2 * 8000


def test_archive_limits_are_applied(tmp_path):
    """The zip limits of Limits are the ones the training upload enforces."""
    archive = pytest.importorskip("genrecls.archive")
    import zipfile

    from genrecls.exceptions import DataError

    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(6):
            z.writestr(f"{'ab'[i % 2]}/{i}.wav", b"\0" * 1000)
    with pytest.raises(DataError, match="entries"):
        archive.extract_training_zip(
            path, dest_root=tmp_path / "x", limits=Limits(max_zip_entries=5)
        )
    with pytest.raises(DataError, match="MiB"):
        archive.extract_training_zip(
            path, dest_root=tmp_path / "x", limits=Limits(max_zip_uncompressed_bytes=5000)
        )
    assert not list(tmp_path.glob("x/*")), "a refused archive left files behind"
