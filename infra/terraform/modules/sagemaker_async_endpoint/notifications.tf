# SageMaker publishes one message per async request: to the success topic with the output
# location, or to the error topic with the failure location. Subscribe the platform's queue or
# function to these topics.
resource "aws_sns_topic" "success" {
  name              = "${var.name}-async-success"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic" "error" {
  name              = "${var.name}-async-error"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}
