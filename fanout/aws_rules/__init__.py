"""AWS's own rules for the resources this template and the consumer kit can express.

moto (and the local emulator) accept configurations AWS refuses. These rules refuse
them locally with AWS's error code and text, naming the resource; each rule's docstring
links the AWS page that states it. ``fanout.deploy`` applies them to every stack it
creates, ``fanout.local.model.MappingSpec`` to every mapping it is given.

One module per service, as in moto: ``cloudformation`` (stack parameters), ``lambda_``
(event source mappings), ``sqs``, ``sns``, ``s3``; ``template`` (checked before creating) and ``deployed`` (checked on the
created tree) walk the resources; ``exceptions`` holds the error.
"""

from fanout.aws_rules.cloudformation import check_parameter_names, check_parameter_value
from fanout.aws_rules.deployed import check_deployed
from fanout.aws_rules.exceptions import AwsRuleError
from fanout.aws_rules.lambda_ import check_mapping, check_visibility_timeout
from fanout.aws_rules.sns import check_large_topic, check_subscription
from fanout.aws_rules.template import check_buckets, check_queues, check_topics

__all__ = [
    "AwsRuleError",
    "check_buckets",
    "check_deployed",
    "check_large_topic",
    "check_mapping",
    "check_parameter_names",
    "check_parameter_value",
    "check_queues",
    "check_subscription",
    "check_topics",
    "check_visibility_timeout",
]
