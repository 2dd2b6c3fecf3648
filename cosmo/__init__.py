"""COSMO: mine e-commerce commonsense knowledge from shopping behaviour and serve it."""

__version__ = "0.1.0"
