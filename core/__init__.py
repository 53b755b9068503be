"""postroom core: the domain, its use cases, ports and storage.

Nothing here imports a web framework, a command-line toolkit, a serial library
or any of postroom's outer layers; those depend on core, never the reverse.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("postroom")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"
