# Autoscaling of an asynchronous endpoint, following the AWS guidance
# (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html):
#
# - target tracking on the queue: ApproximateBacklogSizePerInstance (AWS/SageMaker, dimension
#   EndpointName). Async endpoints do not publish the predefined InvocationsPerInstance
#   metric that real-time endpoints scale on, so a policy on it would never act.
# - min_capacity 0: with an empty backlog the endpoint scales in to zero instances.
# - target tracking alone cannot leave zero (there is no instance to divide the backlog by), so
#   a step scaling policy driven by a CloudWatch alarm on HasBacklogWithoutCapacity adds an
#   instance as soon as requests wait and no instance runs.

locals {
  scaling_resource_id = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/${var.variant_name}"
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "sagemaker"
  resource_id        = local.scaling_resource_id
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.autoscaling.min_capacity
  max_capacity       = var.autoscaling.max_capacity
}

resource "aws_appautoscaling_policy" "backlog_target_tracking" {
  name               = "${var.name}-backlog-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.autoscaling.target_backlog_per_instance
    scale_in_cooldown  = var.autoscaling.scale_in_cooldown
    scale_out_cooldown = var.autoscaling.scale_out_cooldown

    customized_metric_specification {
      metric_name = "ApproximateBacklogSizePerInstance"
      namespace   = "AWS/SageMaker"
      statistic   = "Average"

      dimensions {
        name  = "EndpointName"
        value = aws_sagemaker_endpoint.this.name
      }
    }
  }
}

resource "aws_appautoscaling_policy" "scale_from_zero" {
  name               = "${var.name}-scale-from-zero"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = var.autoscaling.scale_from_zero_cooldown
    metric_aggregation_type = "Average"

    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = 1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "has_backlog_without_capacity" {
  alarm_name          = "${var.name}-has-backlog-without-capacity"
  alarm_description   = "Async requests are queued on ${var.name} and no instance is running: scale up from zero."
  namespace           = "AWS/SageMaker"
  metric_name         = "HasBacklogWithoutCapacity"
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = [aws_appautoscaling_policy.scale_from_zero.arn]

  dimensions = {
    EndpointName = aws_sagemaker_endpoint.this.name
  }

  tags = var.tags
}
