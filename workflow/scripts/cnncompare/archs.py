"""Names of the architectures a model block may ask for.

Kept apart from models.py so that checking a config never imports torch.
"""

KNOWN_ARCHS = ("custom_cnn",)
