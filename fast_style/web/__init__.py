"""Stylising in the browser: a static site (the page, the networks as ONNX with 16-bit weights, the paintings'
thumbnails and the onnxruntime-web runtime) that runs every photo on the visitor's own machine, and a local
server with the headers multi-threaded WebAssembly needs."""
