import subprocess
import sys

import genrecls

CHECK = """
import importlib, pkgutil, sys
import genrecls
for module in pkgutil.walk_packages(genrecls.__path__, "genrecls."):
    if module.name.endswith("__main__"):
        continue
    importlib.import_module(module.name)
bad = sorted(m for m in sys.modules if m == "streamlit" or m.startswith("streamlit."))
assert not bad, bad
print("ok")
"""


def test_library_never_imports_streamlit():
    """genrecls is usable without the app: importing every module pulls in no Streamlit."""
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_version():
    assert genrecls.__version__.count(".") == 2
