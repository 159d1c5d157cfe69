"""Orders: cart, rule-checked checkout, budgets, mini-competitions, order lifecycle, payment."""
