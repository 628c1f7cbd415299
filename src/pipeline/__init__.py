"""The image generation Worker's core: plain async Python, no runtime imports."""
