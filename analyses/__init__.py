"""Statistical analyses (pure functions returning ``...Result`` dataclasses) and the callbacks that run them."""
