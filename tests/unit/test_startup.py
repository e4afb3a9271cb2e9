"""The operator starts serving only once API discovery lists everything it watches: Kopf
resolves its resources once, and an API server still starting lists only some of them."""

import asyncio

from kubedag import handlers


class Discovery:
    """Lists the kubedag group only from the third look on, like a restarting API server."""

    def __init__(self) -> None:
        self.looks: list[str] = []

    async def serves(self, group_version: str, resources: set[str]) -> bool:
        self.looks.append(group_version)
        kubedag_looks = sum(1 for look in self.looks if look.startswith("kubedag.io"))
        return not group_version.startswith("kubedag.io") or kubedag_looks >= 3


def test_startup_waits_until_every_watched_resource_is_served() -> None:
    discovery = Discovery()
    asyncio.run(handlers._wait_until_served(discovery, interval=0))  # type: ignore[arg-type]
    kubedag_looks = [look for look in discovery.looks if look.startswith("kubedag.io")]
    assert len(kubedag_looks) == 3
    assert set(discovery.looks) == set(handlers.WATCHED)
