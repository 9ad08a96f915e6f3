-- One database per service: each service owns its tables (see README, "Architecture").
CREATE DATABASE pr_registry;
CREATE DATABASE pr_notifier;
CREATE DATABASE pr_reporting;
