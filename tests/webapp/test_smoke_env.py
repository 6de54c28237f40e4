import os

from django.conf import settings


def test_it_keeps_test_state_under_var_test() -> None:
    assert str(settings.VAR_DIR).endswith(os.path.join("var", "test"))
