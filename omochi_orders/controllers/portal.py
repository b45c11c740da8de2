"""The customer portal of the Omochi orders: ``/my/omochi_orders`` and
``/my/omochi_orders/<id>``, in the conventions of Odoo's own portals (sale, account).

Customers see the orders of their commercial entity (the portal record rules
of ``omochi.order``); anyone holding an order's access token (the link of the
"Send by Email" mail) sees that order without logging in. An order the
visitor may not see is a 404, whether it exists or not.
"""

from odoo import http
from odoo.exceptions import AccessError, MissingError
from odoo.http import request

from odoo.addons.portal.controllers.portal import CustomerPortal
from odoo.addons.portal.controllers.portal import pager as portal_pager

ORDERS_URL = "/my/omochi_orders"
ORDERS_HISTORY_KEY = "my_omochi_orders_history"


class OmochiOrderPortal(CustomerPortal):
    """``/my`` counter, ``/my/omochi_orders`` list and
    ``/my/omochi_orders/<id>`` page."""

    # ------------------------------------------------------------------
    # /my
    # ------------------------------------------------------------------

    def _prepare_home_portal_values(self, counters):
        """Add the number of orders of the customer (``omochi_order_count``)."""
        values = super()._prepare_home_portal_values(counters)
        if "omochi_order_count" in counters:
            Order = request.env["omochi.order"]
            values["omochi_order_count"] = (
                Order.search_count(self._omochi_orders_domain())
                if Order.has_access("read")
                else 0
            )
        return values

    def _omochi_orders_domain(self):
        """Domain of the orders listed to the current user: those of their
        commercial entity, once confirmed (drafts are still being prepared by
        the shop; their page stays reachable through a link)."""
        partner = request.env.user.partner_id
        return [
            ("partner_id", "child_of", partner.commercial_partner_id.id),
            ("state", "!=", "draft"),
        ]

    # ------------------------------------------------------------------
    # /my/omochi_orders
    # ------------------------------------------------------------------

    def _omochi_orders_searchbar_sortings(self):
        """The sort options of the orders list (key -> label and order)."""
        return {
            "date": {
                "label": request.env._("Newest"),
                "order": "date_order desc, id desc",
            },
            "name": {
                "label": request.env._("Reference"),
                "order": "name desc, id desc",
            },
            "total": {
                "label": request.env._("Total"),
                "order": "amount_total desc, id desc",
            },
            "state": {
                "label": request.env._("Status"),
                "order": "state, date_order desc, id desc",
            },
        }

    def _omochi_orders_searchbar_filters(self):
        """The filters of the orders list (key -> label and domain)."""
        return {
            "all": {"label": request.env._("All"), "domain": []},
            "to_pay": {
                "label": request.env._("To Pay"),
                "domain": [
                    ("state", "=", "confirmed"),
                    ("payment_state", "in", ("not_paid", "pending")),
                ],
            },
            "paid": {
                "label": request.env._("Paid"),
                "domain": [("state", "=", "paid")],
            },
            "refunded": {
                "label": request.env._("Refunded"),
                "domain": [("state", "=", "refunded")],
            },
            "cancelled": {
                "label": request.env._("Cancelled"),
                "domain": [("state", "=", "cancelled")],
            },
        }

    def _prepare_omochi_orders_values(self, page=1, sortby=None, filterby=None):
        """Values of the ``/my/omochi_orders`` page; unknown sort or filter keys fall
        back to the defaults."""
        Order = request.env["omochi.order"]
        values = self._prepare_portal_layout_values()
        searchbar_sortings = self._omochi_orders_searchbar_sortings()
        searchbar_filters = self._omochi_orders_searchbar_filters()
        if sortby not in searchbar_sortings:
            sortby = "date"
        if filterby not in searchbar_filters:
            filterby = "all"
        domain = self._omochi_orders_domain() + searchbar_filters[filterby]["domain"]
        can_read = Order.has_access("read")
        pager = portal_pager(
            url=ORDERS_URL,
            url_args={"sortby": sortby, "filterby": filterby},
            total=Order.search_count(domain) if can_read else 0,
            page=page,
            step=self._items_per_page,
        )
        orders = (
            Order.search(
                domain,
                order=searchbar_sortings[sortby]["order"],
                limit=self._items_per_page,
                offset=pager["offset"],
            )
            if can_read
            else Order
        )
        values.update(
            {
                "orders": orders,
                "page_name": "omochi_order",
                "pager": pager,
                "default_url": ORDERS_URL,
                "searchbar_sortings": searchbar_sortings,
                "sortby": sortby,
                "searchbar_filters": searchbar_filters,
                "filterby": filterby,
            }
        )
        return values

    @http.route(
        [ORDERS_URL, f"{ORDERS_URL}/page/<int:page>"],
        type="http",
        auth="user",
        website=True,
    )
    def portal_my_omochi_orders(self, page=1, sortby=None, filterby=None, **_kw):
        """The customer's orders, paged, sortable and filtered by state."""
        values = self._prepare_omochi_orders_values(page, sortby, filterby)
        request.session[ORDERS_HISTORY_KEY] = values["orders"].ids[:100]
        return request.render("omochi_orders.portal_my_omochi_orders", values)

    # ------------------------------------------------------------------
    # /my/omochi_orders/<id>
    # ------------------------------------------------------------------

    def _omochi_order_check_access(self, order_id, access_token=None):
        """Return the order (sudo) if the visitor may see it: by the access
        rules, or with its access token.

        :raise werkzeug.exceptions.NotFound: otherwise, whether the order
            exists or not (never a 403 that would reveal it).
        """
        if isinstance(access_token, str) and not access_token.isascii():
            # Never a token (they are ASCII), and consteq raises on it.
            access_token = None
        try:
            return self._document_check_access(
                "omochi.order", order_id, access_token=access_token
            )
        except (AccessError, MissingError):
            raise request.not_found() from None

    def _omochi_order_page_values(self, order_sudo, access_token=None, **kwargs):
        """Rendering values of the order page; modules add theirs.

        :param order_sudo: The ``omochi.order`` (sudo) the visitor may see.
        :param str access_token: The token the visitor came with, if any.
        :param dict kwargs: The other query parameters of the request.
        :rtype: dict
        """
        values = {
            "omochi_order": order_sudo,
            "page_name": "omochi_order",
            "res_company": order_sudo.company_id,
            "backend_url": (
                f"/odoo/action-omochi_orders.action_omochi_order/{order_sudo.id}"
            ),
        }
        # No keyword arguments: the free "error"/"success" query parameters of
        # the generic helper must never reach the page as text.
        return self._get_page_view_values(
            order_sudo, access_token, values, ORDERS_HISTORY_KEY, False
        )

    @http.route(
        f"{ORDERS_URL}/<int:order_id>",
        type="http",
        auth="public",
        website=True,
    )
    def portal_omochi_order_page(self, order_id, access_token=None, **kwargs):
        """The page of one order: its lines, total, state and payment state."""
        order_sudo = self._omochi_order_check_access(order_id, access_token)
        values = self._omochi_order_page_values(order_sudo, access_token, **kwargs)
        return request.render(
            "omochi_orders.omochi_order_portal_template",
            values,
            headers={"Cache-Control": "no-store"},
        )
