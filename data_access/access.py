"""Who may see what: roles, permissions and street scopes.

A :class:`Principal` is the signed-in user as the dashboards know them:
their name, role, the streets they may see (``scope``; ``None`` = the whole
site) and what they may do (``permissions``). Pages ask
``principal.can("unmask")``; query functions get the scope inside their
:class:`~data_access.filters.AreaFilter`, so a page cannot forget it.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "leader", "analyst", "street_staff", "wall")

#: What a role may do beyond viewing its pages:
#: ``export`` (CSV/Excel downloads), ``pack`` (the weekly PDF/Excel pack),
#: ``unmask`` (reveal one case's personal data with a reason), ``audit``
#: (read the audit log), ``silence`` (create or expire alert silences),
#: ``import`` (upload exports into the staging database).
PERMISSIONS = ("export", "pack", "unmask", "audit", "silence", "import")

#: Auth modes: OIDC via st.login, a trusted proxy header, a wall token, none.
AUTH_MODES = ("oidc", "proxy", "wall", "none")


@dataclass(frozen=True)
class Principal:
    """The user of a session.

    ``name``: OIDC e-mail (else subject), the proxy's user header, or
    ``wall:<name>``. ``role``: one of :data:`ROLES`. ``scope``: street
    codes the user may see, ``None`` for every street. ``permissions``:
    a subset of :data:`PERMISSIONS`. ``pages``: URL paths of the pages
    shown (``None`` = all). ``mode``: one of :data:`AUTH_MODES`.
    """

    name: str
    role: str
    scope: tuple[str, ...] | None
    permissions: frozenset[str]
    pages: frozenset[str] | None = None
    mode: str = "none"

    def can(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        return permission in self.permissions

    def sees_page(self, url_path: str) -> bool:
        return self.pages is None or url_path in self.pages
