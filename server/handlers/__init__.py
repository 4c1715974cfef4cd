"""One handler module per entity. Importing this package registers every command.

Modules are discovered, so adding an entity is adding a module here.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
