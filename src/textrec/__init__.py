"""textrec: text-based interactive recommendation learned offline.

Data flow: catalog -> simulator -> logs -> learners -> evaluation -> serving.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
