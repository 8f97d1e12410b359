"""Admin pages, one module per page family. ``urls.py`` wires them."""
