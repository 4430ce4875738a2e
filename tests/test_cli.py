import json
import subprocess
import sys

import soundfile as sf

from genrecls.cli import main
from genrecls.config import GENRES
from genrecls.synth import chord_progression, drum_loop


def test_predict_json_contract_with_a_bad_file(tmp_path, tiny_model_path, capsys):
    good = tmp_path / "good.wav"
    sf.write(good, drum_loop(sr=22050, seconds=4.0), 22050)
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    code = main(["predict", str(good), str(bad), "--json", "--model", str(tiny_model_path)])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 2
    assert lines[0]["file"] == str(good) and lines[0]["genre"] in GENRES
    assert set(lines[0]["probabilities"]) == set(GENRES)
    assert lines[0]["segments"] and set(lines[0]["segments"][0]) == {
        "start",
        "end",
        "probabilities",
    }
    assert lines[1]["file"] == str(bad) and "error" in lines[1] and "bad.mp3" in lines[1]["error"]


def test_predict_missing_model_fails_cleanly(tmp_path, capsys):
    code = main(["predict", "x.wav", "--model", str(tmp_path / "nope.pt")])
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_features_command(tmp_path):
    wav = tmp_path / "c.wav"
    sf.write(wav, chord_progression(sr=22050, seconds=2.0), 22050)
    assert main(["features", str(wav), "--out", str(tmp_path / "f.npz")]) == 0
    import numpy as np

    with np.load(tmp_path / "f.npz") as f:
        assert f["chroma"].shape[0] == 12 and f["mfcc"].shape[0] == 20


def test_python_dash_m_entry_point(tmp_path, tiny_model_path):
    wav = tmp_path / "d.wav"
    sf.write(wav, drum_loop(sr=16000, seconds=3.5), 16000)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "genrecls",
            "predict",
            str(wav),
            "--json",
            "--model",
            str(tiny_model_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["file"] == str(wav)
