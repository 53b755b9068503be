"""The supplies shop: catalogue, carts, orders, meter add-ons and ad slogans."""
