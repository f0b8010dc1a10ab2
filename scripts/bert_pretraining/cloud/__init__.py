"""Cloud Storage (the upload) and the Cloud TPU submitter that starts and follows a training VM."""
