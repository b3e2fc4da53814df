"""Training a network: photo data, the LightningModule, the fast path, checkpoints that never lose a run's
progress, DDP checks, and the recipe that turns a config into network, loss, module, data, trainer and model
file."""
