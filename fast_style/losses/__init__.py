"""What a stylised image is measured by: the frozen VGG's taps, the perceptual loss (content, Gram-matrix style,
total variation, range; one or many styles), a model file's loss rebuilt from its card, and the stability term
for films."""
