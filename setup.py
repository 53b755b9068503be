"""Package discovery for the postroom namespace.

The four top-level folders are the packages postroom.core, postroom.plugins,
postroom.hal and postroom.frontends (postroom itself is a namespace package).
pyproject.toml cannot express "find every subpackage under this folder and
prefix it", so this file does that one thing; everything else is in pyproject.
"""

from setuptools import find_packages, setup

FOLDERS = ("core", "plugins", "hal", "frontends")
# Data files anywhere below a package: templates, static files, catalogues, rate tables...
DATA = [
    f"**/*.{ext}"
    for ext in (
        "typed",
        "toml",
        "csv",
        "json",
        "html",
        "css",
        "js",
        "svg",
        "po",
        "mo",
        "mako",
        "txt",
        "md",
    )
]

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder in FOLDERS:
    packages.append(f"postroom.{folder}")
    package_dir[f"postroom.{folder}"] = folder
    packages += [f"postroom.{folder}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir, package_data={"": DATA})
