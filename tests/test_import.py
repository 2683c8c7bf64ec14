"""`import popbt` stays light: no SQLAlchemy, torch or matplotlib until they are needed, and
no TensorBoard or MLflow package until a logger is made (`popbt.loggers` itself is light)."""

from __future__ import annotations

import subprocess
import sys


def test_import_popbt_is_light():
    code = ("import sys, popbt, popbt.loggers; heavy = [m for m in ('sqlalchemy', 'torch', "
            "'matplotlib', 'tensorboardX', 'tensorboard', 'mlflow') if m in sys.modules]; "
            "print(','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == ""


def test_public_api():
    import popbt

    for name in popbt.__all__:
        assert getattr(popbt, name) is not None
    assert popbt.create_population.__module__ == "popbt.population"
