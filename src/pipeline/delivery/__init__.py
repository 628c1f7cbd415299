"""Delivery: the sizes and formats a frontend asks for, made once from the original
(the Images binding on Workers, Pillow locally), stored in R2 beside it, served from there."""
