"""Code that exported workflow scripts carry with them, verbatim.

Everything in this package depends only on the standard library and pydantic (which
litellm itself needs), and never imports the rest of the studio, so
``workflow export-python`` can paste these modules into a script that runs anywhere
litellm is installed — the script formats and parses exactly as the engine does.
Modules are pasted in the order of ``PORTABLE_MODULES``; imports between them are written
``from .name import …`` on one line so the exporter can drop them.
"""

PORTABLE_MODULES = ("fieldtypes", "formats", "tools")
