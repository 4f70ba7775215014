"""Copy the top-level schema/ and queries/ into the wheel as pydal_lite/_sql/.

DBAs edit the SQL at the top of the repository; a non-editable install still
needs it, so the build puts a copy inside the package (see pydal_lite.resources).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent


class BuildPyWithSql(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "pydal_lite" / "_sql"
        for name in ("schema", "queries"):
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(ROOT / name, dest, ignore=shutil.ignore_patterns("*~", ".*"))


setup(cmdclass={"build_py": BuildPyWithSql})
