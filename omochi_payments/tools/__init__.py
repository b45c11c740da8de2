from .config import StripeConfig, get_stripe_config, mask_secret, url_origin

__all__ = ["StripeConfig", "get_stripe_config", "mask_secret", "url_origin"]
