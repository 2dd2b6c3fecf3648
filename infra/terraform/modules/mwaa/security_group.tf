resource "aws_security_group" "this" {
  name        = "${var.name}-mwaa"
  description = "MWAA ${var.name}: self-referencing traffic, private UI, HTTPS to AWS APIs"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-mwaa" })

  lifecycle {
    create_before_destroy = true
  }
}

# MWAA components (scheduler, workers, web server, metadata database endpoint) talk to each
# other inside this security group.
resource "aws_vpc_security_group_ingress_rule" "self" {
  security_group_id            = aws_security_group.this.id
  description                  = "MWAA components of this environment"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.this.id
}

resource "aws_vpc_security_group_egress_rule" "self" {
  security_group_id            = aws_security_group.this.id
  description                  = "MWAA components of this environment"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.this.id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs (VPC endpoints or NAT) and the platform's services"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "webserver_from_security_groups" {
  count = length(var.webserver_allowed_security_group_ids)

  security_group_id            = aws_security_group.this.id
  description                  = "Airflow UI from an allowed security group"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.webserver_allowed_security_group_ids[count.index]
}

resource "aws_vpc_security_group_ingress_rule" "webserver_from_cidrs" {
  count = length(var.webserver_allowed_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "Airflow UI from an allowed private network"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.webserver_allowed_cidr_blocks[count.index]
}
