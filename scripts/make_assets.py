"""Write the self-made demo clips under assets/ (licence-free: synthesized here).

Run: python scripts/make_assets.py
"""

from pathlib import Path

import soundfile as sf

from genrecls.synth import DEMO_CLIPS, drum_loop, piano_melody

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SR = 22050


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    for stem, (generator, _) in DEMO_CLIPS.items():
        y = generator(sr=SR, seconds=10.0, seed=0)
        sf.write(ASSETS / f"{stem}.ogg", y, SR, format="OGG", subtype="VORBIS")
    # A mixture: drums + piano, the kind of clip a class can play with.
    mix = 0.6 * drum_loop(sr=SR, seconds=10.0, bpm=100, seed=1) + 0.6 * piano_melody(
        sr=SR, seconds=10.0, seed=1
    )
    sf.write(
        ASSETS / "drums_and_piano.ogg",
        mix / abs(mix).max() * 0.8,
        SR,
        format="OGG",
        subtype="VORBIS",
    )
    for p in sorted(ASSETS.glob("*.ogg")):
        print(p.name, p.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
