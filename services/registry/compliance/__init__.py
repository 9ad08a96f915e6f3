"""The reporting traffic light (UN DESA's rule), its scheduled job, reminders and digest."""
