"""Build of the edgebert Python package (see pyproject.toml for the metadata).

    pip install --no-build-isolation ./python

The package is ctypes over libedgebert.so, so it carries no compiled
extension of its own: building it runs `make lib` in the source tree this
folder belongs to (a no-op when the library is up to date) and copies
build/libedgebert.so and models/default.ebb into the package.  The installed
package then needs neither the source tree nor an environment variable:
edgebert.Model() loads its own copy of the library and of the default model.
"""
import os
import re
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def source_tree():
    if not (os.path.exists(os.path.join(ROOT, "Makefile")) and
            os.path.exists(os.path.join(ROOT, "include", "edgebert.h"))):
        raise SystemExit("edgebert: %s is not the edgebert source tree (Makefile, include/edgebert.h); "
                         "install the package from the python/ folder of a checkout" % ROOT)
    return ROOT


def check_version(root):
    """The package's __version__ must be the library's EB_VERSION_STRING."""
    h = open(os.path.join(root, "include", "edgebert.h")).read()
    lib = re.search(r'#define EB_VERSION_STRING "([^"]+)"', h).group(1)
    init = open(os.path.join(HERE, "edgebert", "__init__.py")).read()
    py = re.search(r'^__version__ = "([^"]+)"', init, re.M).group(1)
    if lib != py:
        raise SystemExit("edgebert: python/edgebert/__init__.py says %s, include/edgebert.h %s" % (py, lib))


class build_with_library(build_py):
    """The pure-Python files, then the library and the default model."""

    def run(self):
        super().run()
        root = source_tree()
        check_version(root)
        # a clean make environment: not the flags of an enclosing make (e.g. `make SAN=1 test`)
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
        lib = os.path.join(root, "build", "libedgebert.so")
        try:
            ok = subprocess.run(["make", "-s", "-C", root, "BUILD=build", "SAN=0", "TSAN=0", "lib"],
                                env=env).returncode == 0
        except OSError:  # no make: an existing build will do
            ok = False
        if not ok and not os.path.exists(lib):
            raise SystemExit("edgebert: `make lib` failed in %s and build/libedgebert.so is missing" % root)
        pkg = os.path.join(self.build_lib, "edgebert")
        os.makedirs(os.path.join(pkg, "_lib"), exist_ok=True)
        shutil.copy2(lib, os.path.join(pkg, "_lib", "libedgebert.so"))
        model = os.path.join(root, "models", "default.ebb")
        if os.path.exists(model):
            os.makedirs(os.path.join(pkg, "models"), exist_ok=True)
            shutil.copy2(model, os.path.join(pkg, "models", "default.ebb"))


class BinaryDistribution(Distribution):
    """The package holds a shared library: a platform wheel, not a pure one."""

    def has_ext_modules(self):
        return True


cmdclass = {"build_py": build_with_library}
try:
    from wheel.bdist_wheel import bdist_wheel

    class bdist_wheel_any_python(bdist_wheel):
        """py3-none-<platform>: ctypes works with any Python 3."""

        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            return ("py3", "none", super().get_tag()[2])

    cmdclass["bdist_wheel"] = bdist_wheel_any_python
except ImportError:
    pass

setup(cmdclass=cmdclass, distclass=BinaryDistribution)
