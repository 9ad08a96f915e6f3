"""Authorization of the registry: the ONE permission table (:mod:`registry.authz.permissions`)
every service function consults (API, pages, CLI and imports alike), and the mapping of the
interim bearer tokens onto :class:`shared.identity.Principal`."""
