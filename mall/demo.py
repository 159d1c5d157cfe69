def seed(session, products=5000, rng_seed=2025, progress=None):
    raise NotImplementedError
