"""How good a network is: against L-BFGS on its own loss (validation), in numbers a loss hides (blown-out and
crushed shares), how much it makes films flicker, and the gallery that shows it next to others."""
