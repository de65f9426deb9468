import os

from hypothesis import HealthCheck, settings

# CI gets a fixed, moderate number of examples; locally HYPOTHESIS_PROFILE=dev runs more.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
