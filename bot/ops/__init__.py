"""Running the services: processes, logs, metrics, proxy configuration, backups.

action_server and rasa_cli are the entry points of the action server and of Rasa (`python -m`
bot.ops.action_server / bot.ops.rasa_cli: readiness checks, tokens kept off the command line);
monitoring gives every service its Prometheus /metrics; log_files rotates the log files;
proxy_config renders nginx's configuration in front of the replicas; db_backup backs up and
restores the PostgreSQL database (pg_dump), the password kept off the command line.
"""
