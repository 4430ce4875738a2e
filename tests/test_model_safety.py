"""Model files are safe to open and never lost.

- Tampered, truncated, foreign or code-carrying model files raise ``ModelError`` (and the
  code never runs); the predictor, the CLI and the Classify page report them cleanly.
- A name a user types cannot put a model outside the user-models folder.
- A training process killed mid-epoch resumes from its last checkpoint to the same result
  as a run never interrupted.
- A crash while saving (error in the rename, process killed before the rename or in the
  middle of the write) leaves the previous model intact and loadable, and the Classify page
  never offers a half-written file.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from genrecls import checkpoint, model_store
from genrecls.checkpoint import load_model, save_model, user_model_path
from genrecls.config import GENRES, PROJECT_ROOT, bundled_models_dir
from genrecls.exceptions import ModelError, ParameterError
from genrecls.features import FeatureConfig
from genrecls.models.cnn import CompactCNN
from genrecls.predict import GenrePredictor
from genrecls.train import BatchEnd, EpochEnd, Trainer, read_training_checkpoint
from tests import _training_child as child

KWARGS = {"n_mels": 96, "n_classes": len(GENRES), "channels": (4, 8, 8, 8)}


def _model(seed: int = 0) -> CompactCNN:
    torch.manual_seed(seed)
    return CompactCNN(**KWARGS).eval()


def _save(path: Path, seed: int = 0, **metadata) -> Path:
    return save_model(
        path,
        model=_model(seed),
        architecture="compact_cnn",
        arch_kwargs=KWARGS,
        feature_config=FeatureConfig(),
        labels=GENRES,
        metadata=metadata,
    )


@pytest.fixture
def good(tmp_path) -> Path:
    return _save(tmp_path / "good.pt")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --------------------------------------------------------------------------- tampering


def _member_data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    """Offset of a zip member's (stored) bytes in the archive."""
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + name_len + extra_len


def _flip(path: Path, region: str) -> int:
    """Flip one byte of a model file in ``region``; return its offset."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        pkl = next(i for i in infos if i.filename.endswith("data.pkl"))
        weights = max((i for i in infos if "/data/" in i.filename), key=lambda i: i.file_size)
        central = z.start_dir
    offsets = {
        "pickle": _member_data_offset(data, pkl) + pkl.file_size // 2,
        "local-header": pkl.header_offset + 2,
        "central-directory": central + 10,
        "weights": _member_data_offset(data, weights) + weights.file_size // 2,
    }
    pos = offsets[region]
    data[pos] ^= 0x5A
    path.write_bytes(bytes(data))
    return pos


@pytest.mark.parametrize(
    "region",
    [
        "pickle",
        "local-header",
        "central-directory",
        "weights",
    ],
)
def test_a_flipped_byte_is_detected(good, region):
    """One flipped byte anywhere in the file is a ModelError, not a silently different model."""
    _flip(good, region)
    with pytest.raises(ModelError, match=r"good\.pt"):
        load_model(good)


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_files(good, keep):
    data = good.read_bytes()
    good.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelError, match=r"good\.pt"):
        load_model(good)


class WritesAFile:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _payload_files(path: Path, marker: Path) -> dict[str, callable]:
    evil = WritesAFile(marker)

    def raw_pickle():
        path.write_bytes(pickle.dumps(evil, protocol=2))

    def torch_zip():
        torch.save({"format": "genrecls-model", "version": 1, "state_dict": evil}, path)

    def torch_legacy():
        torch.save({"format": "genrecls-model", "state_dict": evil}, path,
                   _use_new_zipfile_serialization=False)  # fmt: skip

    def in_metadata():
        _save(path)
        payload = torch.load(path, weights_only=True)
        payload["metadata"] = {"note": evil}
        torch.save(payload, path)

    return {"raw-pickle": raw_pickle, "torch-zip": torch_zip, "torch-legacy": torch_legacy,
            "in-metadata": in_metadata}  # fmt: skip


@pytest.mark.parametrize("packaging", ["raw-pickle", "torch-zip", "torch-legacy", "in-metadata"])
def test_code_in_a_model_file_never_runs(tmp_path, packaging):
    """A pickle whose unpickling would create a file: ModelError, and no file appears."""
    # Positive control: an unsafe load really runs the payload.
    control_marker, control = tmp_path / "control-ran", tmp_path / "control.pt"
    _payload_files(control, control_marker)[packaging]()
    with open(control, "rb") as fh:
        if packaging == "raw-pickle":
            pickle.load(fh)
        else:
            torch.load(fh, weights_only=False)
    assert control_marker.exists(), "the payload does not work; the test would prove nothing"

    marker, path = tmp_path / "pwned", tmp_path / "evil.pt"
    _payload_files(path, marker)[packaging]()
    with pytest.raises(ModelError, match=r"evil\.pt"):
        load_model(path)
    with pytest.raises(ModelError):
        GenrePredictor.from_file(path)
    assert not marker.exists(), "loading a model file ran code"


def _foreign(path: Path, kind: str) -> None:
    if kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "raw-state-dict":
        torch.save(_model().state_dict(), path)
    elif kind == "dict-without-format":
        torch.save({"state_dict": _model().state_dict(), "labels": list(GENRES)}, path)
    elif kind == "other-format":
        torch.save({"format": "keras-model", "version": 1}, path)
    elif kind == "future-version":
        _save(path)
        payload = torch.load(path, weights_only=True)
        payload["version"] = 2
        torch.save(payload, path)
    elif kind == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated
            torch.jit.script(torch.nn.Linear(4, 2)).save(str(path))
    elif kind == "numpy":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros(10))
    elif kind == "text":
        path.write_text("model weights: 0.1 0.2 0.3\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "zip-of-text":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    elif kind == "folder":
        path.mkdir()
    else:  # pragma: no cover
        raise ValueError(kind)


FOREIGN = ["tensor", "raw-state-dict", "dict-without-format", "other-format", "future-version",
           "torchscript", "numpy", "text", "empty", "zip-of-text", "folder"]  # fmt: skip


@pytest.mark.filterwarnings("ignore:'torch.load' received a zip file that looks like a TorchScript")
@pytest.mark.parametrize("kind", FOREIGN)
def test_foreign_files_give_a_clear_model_error(tmp_path, kind):
    path = tmp_path / "foreign.pt"
    _foreign(path, kind)
    with pytest.raises(ModelError, match=r"foreign\.pt") as info:
        load_model(path)
    assert "Traceback" not in str(info.value) and len(str(info.value)) < 400


def test_cli_reports_a_bad_model_without_a_traceback(tmp_path):
    bad = tmp_path / "bad model.pt"
    _foreign(bad, "raw-state-dict")
    wav = tmp_path / "x.wav"
    import soundfile as sf

    sf.write(wav, np.zeros(16000, np.float32), 16000)
    proc = subprocess.run(
        [sys.executable, "-m", "genrecls", "predict", str(wav), "--json", "--model", str(bad)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "error:" in proc.stderr and "bad model.pt" in proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- Classify page


@pytest.fixture
def model_dirs(tmp_path, monkeypatch):
    """An empty bundled-models folder and a user-models folder for the page to list."""
    bundled, user = tmp_path / "bundled", tmp_path / "user"
    bundled.mkdir()
    user.mkdir()
    monkeypatch.setattr(model_store, "bundled_models_dir", lambda: bundled)
    monkeypatch.setenv("GENRECLS_USER_MODELS", str(user))
    return bundled, user


def _classify_page(clip_seconds: float = 3.0):
    import io

    import soundfile as sf
    from streamlit.testing.v1 import AppTest

    from genrecls.synth import drum_loop
    from pages._common import Clip

    buf = io.BytesIO()
    sf.write(buf, drum_loop(sr=16000, seconds=clip_seconds), 16000, format="WAV")
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=240)
    at.session_state["clip"] = Clip(buf.getvalue(), "drums.wav")
    return at


def test_classify_page_lists_no_half_written_model_and_reports_a_broken_one(
    model_dirs, tiny_model_path
):
    """A leftover temp file is not offered; a broken model gives a message, not a traceback."""
    _, user = model_dirs
    (user / "good.pt").write_bytes(tiny_model_path.read_bytes())
    half = tiny_model_path.read_bytes()[:5000]
    (user / ".good.pt.k3j2h1.tmp").write_bytes(half)  # what a crash mid-save leaves
    broken = user / "broken.pt"
    broken.write_bytes(half)
    os.utime(broken, (time.time() + 10, time.time() + 10))  # newest: listed first
    names = [e.name for e in model_store.available_models()]
    assert names == ["broken", "good"]

    at = _classify_page().run()
    assert not at.exception
    assert any("Could not load the model" in e.value and "broken" in e.value for e in at.error)
    at.selectbox(key="classify_model").select_index(1).run()
    assert not at.exception
    assert at.metric and at.metric[0].label == "Genre"
    assert at.metric[0].value.lower() in GENRES


# --------------------------------------------------------------------------- names


def _job():
    from genrecls.data import Track
    from genrecls.training_job import JobConfig, TrainingJob

    tracks = [Track(Path(f"/nonexistent/{c}{i}.wav"), c, f"s:{c}{i}", "t")
              for c in ("a", "b") for i in range(2)]  # fmt: skip
    return TrainingJob(tracks, config=JobConfig(), work_dir=Path("/nonexistent/work"))


ESCAPES = ["../escaped", "../../models/genre_model", "/tmp/abs", "a/b", "..", ".", "",
           "genre_model.pt", "x" * 65, "con", "-rf", "name\nnext", "ünï", "a\\b", " "]  # fmt: skip


@pytest.mark.parametrize("name", ESCAPES)
def test_a_typed_model_name_cannot_escape(tmp_path, monkeypatch, name):
    """The Train page's save path refuses the name before anything is written."""
    user = tmp_path / "root" / "user"
    monkeypatch.setenv("GENRECLS_USER_MODELS", str(user))
    with pytest.raises(ParameterError):
        user_model_path(name)
    pytest.importorskip("genrecls.training_job")
    with pytest.raises(ParameterError):
        _job().save(name)
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").rglob("*"))


def test_a_symlinked_user_model_cannot_point_into_the_bundled_folder(tmp_path, monkeypatch):
    user = tmp_path / "user"
    user.mkdir()
    monkeypatch.setenv("GENRECLS_USER_MODELS", str(user))
    (user / "sneaky.pt").symlink_to(bundled_models_dir() / "genre_model.pt")
    with pytest.raises(ParameterError):
        user_model_path("sneaky")


# --------------------------------------------------------------------------- kill + resume


def _spawn(ckpt: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests._training_child", str(ckpt), "0.05", *extra],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_at(proc: subprocess.Popen, epoch: int, batch: int, timeout: float = 90.0) -> list[str]:
    """Read the child's progress until it reports ``(epoch, batch)``, then SIGKILL it."""
    seen, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"child ended early: {proc.stderr.read()[-2000:]}")
            seen.append(line.strip())
            if line.strip() == f"batch {epoch} {batch}":
                break
        else:
            raise AssertionError(f"child never reached epoch {epoch} batch {batch}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return seen


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_killed_training_run_resumes_from_its_last_checkpoint(tmp_path):
    """SIGKILL mid-epoch 2, resume (killed again mid-epoch 3), resume: same as uninterrupted."""
    torch.set_num_threads(1)
    reference_model = child.make_model()
    reference = Trainer(reference_model, config=child.CONFIG).fit(child.TRAIN, child.VALID)

    ckpt = tmp_path / "ckpt"
    _kill_at(_spawn(ckpt), epoch=2, batch=5)
    assert read_training_checkpoint(ckpt / "last.pt")["epoch"] == 1

    seen = _kill_at(_spawn(ckpt, "--resume"), epoch=3, batch=3)
    assert seen[0] == "batch 2 1", "the first resume must redo epoch 2 from its start"
    assert read_training_checkpoint(ckpt / "last.pt")["epoch"] == 2

    events = []
    model = child.make_model(seed=123)  # a different start: everything must come from last.pt
    result = Trainer(model, config=child.CONFIG, on_event=events.append, checkpoint_dir=ckpt).fit(
        child.TRAIN, child.VALID, resume=True
    )
    first = next(e for e in events if isinstance(e, BatchEnd))
    assert (first.epoch, first.batch) == (3, 1)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [3]
    assert [h.epoch for h in result.history] == [1, 2, 3]
    for got, want in zip(result.history, reference.history, strict=True):
        assert got.train_loss == pytest.approx(want.train_loss, rel=1e-4)
        assert got.valid_accuracy == want.valid_accuracy
    assert result.best_epoch == reference.best_epoch
    for k, v in reference_model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=1e-4, atol=1e-5)
    leftovers = [p.name for p in ckpt.iterdir() if p.name not in ("best.pt", "last.pt")]
    print(f"\nresumed twice after SIGKILL; leftover temp files: {leftovers}")


# --------------------------------------------------------------------------- atomic saves


def test_an_error_in_the_rename_keeps_the_previous_model(tmp_path, monkeypatch):
    path = _save(tmp_path / "mine.pt", seed=0)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("simulated crash in rename")

    monkeypatch.setattr(checkpoint.os, "replace", fail)
    with pytest.raises(OSError, match="simulated"):
        _save(path, seed=1)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _same_weights(load_model(path).model, _model(0))
    assert [p.name for p in tmp_path.iterdir()] == ["mine.pt"], "temp file left behind"


def test_an_error_in_the_rename_keeps_the_previous_training_checkpoint(tmp_path, monkeypatch):
    ckpt = tmp_path / "ckpt"
    config = child.CONFIG.__class__(**{**child.CONFIG.to_dict(), "epochs": 1})
    Trainer(child.make_model(), config=config, checkpoint_dir=ckpt).fit(child.TRAIN, child.VALID)
    before = {p.name: p.read_bytes() for p in ckpt.iterdir()}
    assert set(before) == {"best.pt", "last.pt"}

    def fail(*args, **kwargs):
        raise OSError("simulated crash in rename")

    monkeypatch.setattr(checkpoint.os, "replace", fail)
    config2 = child.CONFIG.__class__(**{**child.CONFIG.to_dict(), "epochs": 1, "seed": 99})
    with pytest.raises(OSError, match="simulated"):
        Trainer(child.make_model(), config=config2, checkpoint_dir=ckpt).fit(
            child.TRAIN, child.VALID
        )
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in ckpt.iterdir()} == before
    assert read_training_checkpoint(ckpt / "last.pt")["epoch"] == 1


CRASHING_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from genrecls import checkpoint
    from tests import test_model_safety as t

    path, where = sys.argv[1], sys.argv[2]
    if where == "before-rename":
        checkpoint.os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    else:  # mid-write: write half of the file, flush it to disk, then die
        real_save = torch.save

        def half_save(obj, fh, *args, **kwargs):
            import io
            buf = io.BytesIO()
            real_save(obj, buf)
            fh.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            fh.flush()
            os.fsync(fh.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        checkpoint.torch.save = half_save
    t._save(__import__("pathlib").Path(path), seed=1)
    """
)


@pytest.mark.parametrize("where", ["before-rename", "mid-write"])
def test_a_process_killed_while_saving_leaves_the_previous_model(model_dirs, where):
    """SIGKILL during save_model: the old file is intact, no half file is ever listed."""
    _, user = model_dirs
    path = _save(user / "mine.pt", seed=0)
    before = path.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_SAVE, str(path), where],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert path.read_bytes() == before
    assert _same_weights(load_model(path).model, _model(0))
    leftovers = [p for p in user.iterdir() if p.name != "mine.pt"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".mine.pt.")
    assert leftovers[0].stat().st_size > 0  # the crash really left a (partial) temp file
    assert [e.name for e in model_store.available_models()] == ["mine"]
    for entry in model_store.available_models():
        load_model(entry.path)  # every listed model loads
