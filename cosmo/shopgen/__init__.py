"""A generator of realistic shop data with planted shopping intentions."""

from cosmo.shopgen.generator import Shop, generate_shop

__all__ = ["Shop", "generate_shop"]
