"""compose.yaml wires the app to PostgreSQL and Redis the way the app reads its settings."""

from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).parents[2]


def test_compose_file_is_valid_and_wires_the_services():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"app", "postgres", "redis"}
    for name, service in services.items():
        assert "test" in service["healthcheck"], name
        assert service.get("image") or service.get("build"), name
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name}: undeclared volume {volume}"

    app = services["app"]
    assert (ROOT / app["build"] / "Dockerfile").exists()
    env = app["environment"]
    db = urlparse(env["TANDEM_DATABASE_URL"])
    pg_env = services["postgres"]["environment"]
    assert db.scheme == "postgresql" and db.hostname == "postgres"
    assert (db.username, db.password, db.path.lstrip("/")) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        pg_env["POSTGRES_DB"],
    )
    assert urlparse(env["TANDEM_REDIS_URL"]).hostname == "redis"
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    published = app["ports"][0].split(":")[-1]
    assert published == env["PORT"]
