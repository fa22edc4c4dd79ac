"""sites.toml and experiment.toml: parsing, credentials from the environment, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedcommon.sites_file import SitesFileError
from researcher.config import ExperimentConfig, load_experiment, load_sites
from researcher.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_files_parse() -> None:
    sites = load_sites(EXAMPLES / "sites.toml")
    exp = load_experiment(EXAMPLES / "experiment.toml")

    assert [s.name for s in sites.sites] == ["st_olav", "haukeland", "ullevaal"]
    assert exp.execution_budget == exp.rounds + 1 + exp.spare_executions


def test_credentials_come_from_the_named_variables() -> None:
    site = load_sites(EXAMPLES / "sites.toml").sites[0]

    assert site.credentials({"ST_OLAV_EMAIL": "a@b.c", "ST_OLAV_PASSWORD": "pw"}) == ("a@b.c", "pw")
    with pytest.raises(
        SitesFileError, match="set the environment variables ST_OLAV_EMAIL and ST_OLAV_PASSWORD"
    ):
        site.credentials({})


def test_password_in_the_sites_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(
        '[[site]]\nname="a"\nurl="http://x:1"\nemail_env="E"\npassword_env="P"\npassword="x"\n'
    )

    with pytest.raises(ConfigError, match=r"sites\.0\.password: Extra inputs are not permitted"):
        load_sites(path)


def test_bad_experiment_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text('name = "Bad-Name"\ndataset = "d"\nalgorithm = "fedsgd"\n')

    with pytest.raises(
        ConfigError,
        match=r"name: .*lowercase.*algorithm: Input should be 'fedavg', 'fedprox', 'fedavgm' or",
    ):
        load_experiment(path)


def test_function_name_changes_with_the_code_or_settings() -> None:
    exp = load_experiment(EXAMPLES / "experiment.toml")
    changed = exp.model_copy(update={"lr": 0.5})

    assert exp.function_name("src") != changed.function_name("src")
    assert exp.function_name("src") != exp.function_name("src2")
    assert exp.function_name("src").startswith("fl_pneumonia_cnn_")


@pytest.mark.parametrize(("n_sites", "majority"), [(2, 2), (3, 2), (10, 6)])
def test_min_sites_defaults_to_a_majority(n_sites: int, majority: int) -> None:
    exp = ExperimentConfig(name="unit", dataset="d")

    assert exp.required_sites(n_sites) == majority
    assert ExperimentConfig(name="unit", dataset="d", min_sites=1).required_sites(10) == 1


def test_connect_lists_each_unreachable_site_with_its_reason() -> None:
    """Sites are logged in to at once; a site that does not answer is named, not fatal."""
    from lab.process import free_port
    from researcher import api
    from researcher.config import SiteConfig, SitesConfig

    names = ("north", "south", "east")
    sites = SitesConfig(sites=tuple(
        SiteConfig(name=n, url=f"http://127.0.0.1:{free_port()}", email_env="E", password_env="P")
        for n in names
    ))  # fmt: skip
    fed = api.connect(sites, {"E": "r@uni.example", "P": "pw"})

    assert fed.clients == {}
    assert list(fed.errors) == list(names)
    assert all(f"Site {n}:" in fed.errors[n] and "datasite running" in fed.errors[n] for n in names)
