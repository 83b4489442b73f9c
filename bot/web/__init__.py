"""The project's own web server: the portal demo page with the chat widget, the service-hall
kiosk, the built widget bundle and the kiosk's topic list — all from this machine, no CDN."""
