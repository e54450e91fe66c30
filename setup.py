"""Package discovery that pyproject.toml cannot express on its own.

The architecture keeps simulated firmware in the folder ``firmware-sim/`` (a dash, so it reads as
a folder of its own in the tree) while Python imports it as ``firmware_sim``. setuptools' ``find``
cannot map a dashed folder, so the packages and that one directory mapping are listed here.
"""

from setuptools import find_packages, setup

TOP_LEVEL = ["devices", "gateway", "monitoring", "alerts", "followup", "homeward"]

packages = [p for p in find_packages(include=[f"{t}*" for t in TOP_LEVEL])]
packages += ["firmware_sim"] + [f"firmware_sim.{p}" for p in find_packages("firmware-sim")]

setup(packages=packages, package_dir={"firmware_sim": "firmware-sim"})
