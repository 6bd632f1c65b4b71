import os
import shutil

import pytest

from tests.helpers import fixture_path


@pytest.fixture
def root(tmp_path):
    """A firewall root with the seed-style config.xml at /conf/config.xml."""
    os.makedirs(tmp_path / "conf")
    shutil.copy(fixture_path("config", "seed-style.xml"), tmp_path / "conf" / "config.xml")
    return tmp_path
