"""Files in and out: images, videos, folders and films stylised through any stylising callable, atomic writes and
the checks of output settings."""
