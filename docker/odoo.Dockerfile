# The official Odoo 18 image plus the addons' Python dependencies (stripe).
# The addons themselves are mounted by docker-compose.yml, not copied.
FROM odoo:18.0
USER root
COPY requirements.txt /tmp/omochi-requirements.txt
RUN pip3 install --no-cache-dir --break-system-packages "$(grep -E '^stripe' /tmp/omochi-requirements.txt)"
USER odoo
