"""Stylising with a trained network: the network prepared for the device, batching and tiling within memory,
the user's controls, and standalone (TorchScript, ONNX) models. Imports neither Lightning, TensorBoard nor the
VGG, so a command that only stylises starts fast."""
